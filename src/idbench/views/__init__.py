"""Views: how a results object reaches a person (number formatting, the rows and tables every
protocol's console lines, paper tables and report section are built from). Below the protocols,
which declare their views with it; above stats and the metric catalogue."""
