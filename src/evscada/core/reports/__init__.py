"""KPI reports: weekly, monthly and on-demand figures for management (energy, sessions, availability, alarms), made on
a schedule in the operator's time zone, rendered as XLSX and PDF and kept for a while."""
