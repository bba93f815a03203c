"""The docline application: workflows, activities, REST API, inbox, output store, review page, CLI."""
