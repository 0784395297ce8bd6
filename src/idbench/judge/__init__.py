"""A VLM judge: DreamBench++'s GPT-4o protocol, and any OpenAI-compatible model (:mod:`.protocol`: what is
asked; :mod:`.client`: bounded, retried, cached requests; :mod:`.run`: a judge over a study; :mod:`.scorer`:
the ``judge:<model>`` spec)."""
