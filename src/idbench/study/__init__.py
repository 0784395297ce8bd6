"""One study: references, generations, a gallery, NearID samples and human ratings in; every
number those inputs allow out, in one results folder.

>>> from idbench.study import Study
>>> Study(refs="refs/", gen="gen/").plan_for(has={"references", "generations"})
['similarity']

Each input may be a path (folder or manifest, or a published benchmark layout: see
:mod:`idbench.data.layouts`) or an already loaded object (``ReferenceSet``, ``GenerationSet``,
``Gallery``, a list of ``NearIDSample``, a ratings dict). A study file (TOML) names the same
things plus per-protocol options::

    refs = "dataset/"            # paths relative to the study file
    gen = "samples/"
    gallery = "gallery.csv"
    encoders = ["effnet-lite0", "dlib-face"]
    protocols = ["similarity", "retrieval", "rca", "nearid"]   # default: all the inputs allow
    [options.retrieval]
    levels = ["class", "subject"]
    [options.similarity]
    no_face = "skip"

One unit per responsibility:

* :mod:`idbench.study.spec`: what a study is, checked (fields, presets, study files);
* :mod:`idbench.study.plan`: its inputs read and the protocols they allow;
* :mod:`idbench.study.execute`: running it (encoders, Ray, the copy audit, the protocols, the summary);
* :mod:`idbench.study.outcome`: what it produced (:class:`StudyResults`); writing the folder is
  :mod:`idbench.write`, and the report and tables are :mod:`idbench.report`.
"""

from idbench.study.outcome import StudyResults
from idbench.study.spec import STUDY_OPTIONS, Study, StudyError

__all__ = ["STUDY_OPTIONS", "Study", "StudyError", "StudyResults"]
