"""FID / KID per method against real images, on an encoder's features (opt-in: meaningful only
with many images per method; see :mod:`idbench.metrics.distribution` for the sample-size warning)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from idbench.embed import embed_records
from idbench.metrics.distribution import frechet_distance, kernel_inception_distance
from idbench.protocols.common import embedding_matrix
from idbench.section import Section


@dataclass(kw_only=True)
class MethodDistribution:
    fid: float | None = None
    kid: float | None = None
    kid_std: float | None = None
    kid_subset_size: int = 0
    n: int = 0


@dataclass(kw_only=True)
class DistributionSection(Section):
    """``sections.distribution``: FID and KID of each method's generations against the real images."""

    NAME = "distribution"
    encoder: str = ""
    real_images: int = 0
    methods: dict[str, MethodDistribution] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def distribution_protocol(real_records, generations, encoder, *, results, cache=None, problems=None, progress=True, seed=0,
                          batch_size: int = 32):
    emb_r = embed_records(encoder, real_records, cache=cache, problems=problems, progress=progress, desc="real (FID)",
                          batch_size=batch_size)
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="generations",
                          batch_size=batch_size)
    R, _ = embedding_matrix(emb_r, real_records)
    out = {"encoder": encoder.name, "real_images": len(R), "methods": {}, "warnings": []}
    for m, recs in generations.by_method().items():
        G, _ = embedding_matrix(emb_q, recs)
        if len(G) < 2:
            continue
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fid = frechet_distance(G, R)
        kid = kernel_inception_distance(G, R, subset_size=1000, n_subsets=50, seed=seed)
        out["methods"][m] = {"fid": fid, "kid": kid.mean, "kid_std": kid.std, "kid_subset_size": kid.subset_size,
                             "n": len(G)}
        out["warnings"] += sorted({str(x.message) for x in w} - set(out["warnings"]))
    out = results.sections["distribution"] = DistributionSection.from_dict(out)
    return out


def _run(data, ctx) -> None:
    real = data.references.records if data.references is not None else data.gallery.records
    distribution_protocol(real, data.generations, ctx.image_encoder, results=ctx.results, cache=ctx.cache,
                          problems=ctx.problems, progress=ctx.progress, seed=ctx.seed, batch_size=ctx.batch_size)


from idbench.protocols import distribution_views  # noqa: E402
from idbench.protocols.registry import Protocol, Views  # noqa: E402

PROTOCOL = Protocol("distribution", ("generations",), _run,
                    "FID / KID per method against the references (or the gallery); opt-in", order=50, opt_in=True,
                    needs_image_encoder=True, title="FID / KID", sections=(DistributionSection,),
                    views=Views(report=distribution_views.report))
