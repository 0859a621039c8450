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


RETURNS = (
    "Customers may return unworn shoes within 45 days of delivery for a full refund. Sale items can be "
    "exchanged but not refunded. Refunds reach the original card within 5 business days after the "
    "parcel is scanned at our warehouse in Leeds."
)
"""Three topics in one passage; only its last sentence says where the warehouse is (issue 15)."""
SHOP_ARTICLES = {
    "returns.txt": RETURNS,
    "shipping.txt": "Orders ship from Rotterdam within two working days. Parcels to Canada take seven to "
    "twelve days. Express delivery costs 9 euros and arrives the next day in the Netherlands.",
    "sizes.txt": "Our shoes run half a size small, so order one size up. Wide fits are marked W on the "
    "product page. Children's sizes start at EU 24.",
    "care.txt": "Clean leather shoes with a damp cloth and let them dry away from heaters. Suede needs a "
    "brush and a protective spray. Never put shoes in the washing machine.",
    "accounts.txt": "Reset your password from the sign-in page with the link we email you. Two-factor "
    "sign-in uses an authenticator app. Delete your account under Settings, Privacy.",
    "payments.txt": "We accept Visa, Mastercard, PayPal and iDEAL. Invoices are emailed after dispatch. "
    "Klarna lets you pay within 30 days at no extra cost.",
}
SHOP_QUESTIONS = {
    "returns.txt": ["How many days do I have to return shoes?", "Can sale items be refunded?"],
    "shipping.txt": ["Where do orders ship from?", "How long does delivery to Canada take?"],
    "sizes.txt": ["Do your shoes run small?", "Do you sell wide fit shoes?"],
    "care.txt": ["How do I clean leather shoes?", "Can shoes go in the washing machine?"],
    "accounts.txt": ["How do I reset my password?", "How do I delete my account?"],
    "payments.txt": ["Which payment methods do you accept?", "Can I pay later with Klarna?"],
}


def shop_pairs() -> list[dict[str, str]]:
    """Tune pairs for the shop articles: two questions per article, answered by its source name."""
    return [{"query": q, "source": name} for name, questions in SHOP_QUESTIONS.items() for q in questions]


SHOP_DECLINES = [
    "Who won the football world cup in 2018?",
    "How do I bake sourdough bread?",
    "What is the capital of Australia?",
    "Can you recommend a good laptop for gaming?",
    "How do I file my tax return?",
    "What is the weather like in Lisbon tomorrow?",
    "How do I change the oil in my car?",
    "Which vaccines does my dog need?",
    "How do I learn to play the guitar?",
    "What time does the train to Paris leave?",
    "How many calories are in an avocado?",
    "Do you sell mobile phone contracts?",
]
"""Questions a shoe shop's assistant must decline: tune pairs with ``"answerable": false``."""


def shop_declines() -> list[dict[str, object]]:
    return [{"query": q, "answerable": False} for q in SHOP_DECLINES]


# Question–passage pairs for fine-tuning: eight support topics, two phrasings each, one document apiece.
TOPICS = [
    ("reset the admin password", "Hold the reset button on the back for ten seconds with a paperclip."),
    (
        "router light is not green",
        "Wait two minutes after plugging in until the front light turns solid green.",
    ),
    ("firmware update schedule", "Firmware updates install automatically every Sunday at 3 a.m."),
    ("refund duration", "Refunds reach the original payment method within five business days."),
    ("invoice emails", "Invoices are emailed on the first business day of the month."),
    ("shipping warehouse", "Orders ship from the Rotterdam warehouse on weekdays."),
    ("wan cable colour", "Connect the WAN port to your modem with the yellow cable."),
    ("start an update manually", "Start a firmware update from Settings > System."),
]
PAIRS = [
    {"query": template.format(topic), "positive": answer, "doc_id": f"d{i}"}
    for i, (topic, answer) in enumerate(TOPICS)
    for template in ("how do I handle {}?", "{}")
]
