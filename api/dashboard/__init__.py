"""The planners' dashboard: one page of plain HTML, CSS and JavaScript served by the API itself."""
