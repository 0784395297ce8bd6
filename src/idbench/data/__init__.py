"""The data layer: records, safe image decoding, manifests and the problem log."""

from idbench.data.images import ImageError, load_image
from idbench.data.manifest import ManifestError, load_gallery, load_generations, load_references
from idbench.data.problems import Problem, ProblemLog
from idbench.data.records import Gallery, GenerationSet, ImageRecord, ReferenceSet

__all__ = [
    "ImageError", "load_image", "ManifestError", "load_gallery", "load_generations", "load_references",
    "Problem", "ProblemLog", "Gallery", "GenerationSet", "ImageRecord", "ReferenceSet",
]
