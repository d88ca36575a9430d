"""The web app: Bottle routes that read the request, call the models, render a template."""
