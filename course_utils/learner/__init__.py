"""Layer 3 of the course package: the learner's tools. May import any layer below.

* ``heatmaps``        static heatmaps and the spotlight over image regions
* ``explorers``       the live explorers: widgets over a figure that repaints in place
* ``quiz``            quizzes from ``quizzes/*.yaml``, graded in Python or as widgets
* ``exercises``       checkers for the learner's functions (``engine`` + one module per chapter)
* ``progress_store``  the progress file: load, record, reset, under a lock
* ``progress``        the progress report: per chapter, what is done and what to revisit
* ``notebook_tools``  small helpers the chapters share (timing, ``small()``, results tables)
* ``figures``         the notes' slides drawn by code, one module per chapter, and a slider
                      over a figure's steps (``figures.step_through``)

Nothing is imported here, so ``import course_utils`` stays light; import the module you need.
"""
