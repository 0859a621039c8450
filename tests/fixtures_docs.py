"""Small, realistic documents for the end-to-end tests: a support guide in each format."""

GUIDE_MD = b"""# Acme Router Guide

## Installing the router

Plug the router into a power outlet and connect the WAN port to your modem with the yellow cable.
Wait until the front light turns solid green; this takes about two minutes.

## Resetting the admin password

To reset the admin password, hold the recessed reset button on the back for ten seconds with a paperclip.
The router restarts with the default password printed on the label underneath.

```bash
# this is a comment in a code block, not a heading
acme-cli status
```

## Updating the firmware

Firmware updates install automatically every Sunday at 3 a.m. You can also start one from Settings > System.
"""

BILLING_HTML = b"""<!doctype html>
<html><head><title>Billing FAQ</title><style>body{color:red}</style></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<main>
  <h1>Billing</h1>
  <p>Invoices are emailed on the first business day of each month.</p>
  <h2>Refunds</h2>
  <p>Refunds are issued to the original card and take <b>five to ten business days</b> to appear.</p>
  <h2>Payment methods</h2>
  <ul><li>Visa and Mastercard</li><li>SEPA direct debit for customers in the EU</li></ul>
</main>
<footer>Copyright Acme Corp</footer>
<script>console.log("tracking")</script>
</body></html>
"""

SHIPPING_TXT = b"""Shipping policy

Orders placed before noon ship the same day from our warehouse in Rotterdam.
International shipping to Canada and Australia takes between seven and twelve days.
Error code E4471 on the tracking page means the customs declaration is incomplete.
"""
