"""Page scripts run by st.navigation; each only calls its module's ``render``."""
