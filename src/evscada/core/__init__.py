"""The version-neutral domain: no OCPP, SQL, HTTP or Redis knowledge lives here."""
