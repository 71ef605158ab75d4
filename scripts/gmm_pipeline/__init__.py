"""Step logic of the gmm-pipeline workflow, in layers; each imports only from itself and the
layers below it (``tests/test_design.py`` holds that order):

``errors`` (the package root)  <  ``maths``  <  ``files``  <  ``config``  <  ``records``
<  ``stages``  <  ``execution``.

A rule's ``script:`` calls its step in ``execution.steps``, which runs the rule's stage in
``stages`` inside ``execution.runner`` (log, thread limit, clean errors, provenance).
"""
