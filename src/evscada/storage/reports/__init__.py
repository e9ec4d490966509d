"""Storage of KPI reports (core/reports): the report rows, their schedule runs, and the aggregated reads."""
