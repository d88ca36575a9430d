"""The app's shell: settings, the ``overlap`` command and the development runner."""
