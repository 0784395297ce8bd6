"""What a person sees of FID / KID in the report: per method, FID, KID with its spread, the KID subset
size and the number of images."""

from __future__ import annotations


def report(res, results_dir) -> dict:
    from idbench.protocols.distribution import DistributionSection

    sec = DistributionSection.of(res)
    return {"methods": sec.methods} if sec is not None else {}
