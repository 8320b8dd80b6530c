"""Flask-WTF forms. The citizen's answer form is built from a round's questionnaire version."""
