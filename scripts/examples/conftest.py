"""The example application's tests get greenclient's test kit as a pytest plugin."""

pytest_plugins = ["greenclient.testing"]
