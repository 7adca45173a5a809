"""The pure core: rules that decide, with no AWS, HTTP or Twilio SDK imports."""
