"""nbgrader plug-ins the course's ``nbgrader_config.py`` names by their dotted names.

- :mod:`.nbfixes`: ``autograder.plugins.nbfixes.DeduplicateIds`` (``Autograde.sanitize_preprocessors``);
- :mod:`.feedback`: ``autograder.plugins.feedback.StripHiddenTests`` (``GenerateFeedback.preprocessors``)
  and feedback generation for the grader;
- :mod:`.canvas`: ``autograder.plugins.canvas.CanvasExportPlugin`` (``nbgrader export --exporter=...``).

The sandboxed ``Execute`` is :class:`autograder.sandbox.SandboxedExecute`.
"""
