"""The human-readable outputs: the HTML report (:mod:`.html`) and number formatting (:mod:`.format`)."""
