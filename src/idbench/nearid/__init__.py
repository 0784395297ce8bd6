"""NearID: samples with near-identity distractors, and the learned identity head."""
