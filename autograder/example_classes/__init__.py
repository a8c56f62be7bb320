"""The example classes: submissions built from the source notebook, with the grades they must get.

- :mod:`.cases`: a :class:`~.cases.Case` (a name, how its notebook is built, the expected
  points and problems) and the :class:`~.cases.Context` it is built from;
- :mod:`.submissions`: building a submission from a notebook: fill in the solution, change one
  line (:func:`~.submissions.mutate`), delete, duplicate or edit cells;
- :mod:`.examples`: the realistic mistakes of ``make demo`` (:data:`~.examples.EXAMPLES`);
- :mod:`.classroom`: the hostile class of ``make class-demo`` (broken, tampering and
  resource-hungry submissions).
"""
