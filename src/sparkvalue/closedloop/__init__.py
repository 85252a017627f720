"""The closed loop: campaign results against control groups, subscriber tags, KPIs, the report."""
