"""The reader's side: signup forms and pages, embed.js and the iframe, the links in emails."""
