"""Statistics: cluster bootstrap intervals, paired comparisons, agreement with human ratings."""
