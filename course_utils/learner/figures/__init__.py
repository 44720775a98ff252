"""The notes' slides, drawn by code: one module per chapter's data-flow figures.

Each function draws onto a matplotlib figure and returns it; where a figure shows a
computation, the chapter passes in its real tensors. Nothing is imported here; import the module
you need (``from course_utils.learner.figures.chapter_10 import ...``).
"""
