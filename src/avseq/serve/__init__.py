"""`avseq serve`: the trained models behind a JSON API (FastAPI) and a web page.

`app.create_app` builds the app from loaded predictors (`models.load_predictors`) and
`limits.ServerLimits`; `app.run_server` is what the command line starts.
"""
