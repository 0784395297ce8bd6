"""Near-identity distractors for real photos: masks (:mod:`.masks`), the composite (:mod:`.composite`),
quality gates (:mod:`.gates`), the builder (:mod:`.build`) and the review sheet (:mod:`.sheet`)."""
