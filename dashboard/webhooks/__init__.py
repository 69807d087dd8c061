"""Signed webhooks: users subscribe to item and batch events, which are POSTed to them, signed.

One module per concept:
- `models`: webhooks, events, deliveries and their attempts;
- `signing`: the `Console-Signature` header, and the secrets;
- `transport`: the SSRF rules and the one POST, to a vetted address;
- `events`: what happened to items and batches, as events and deliveries;
- `delivery`: one attempt, its retries and a webhook's disabling;
- `queue`: the `webhooks` queue and the jobs' dotted paths; `jobs`: the job functions;
- `services` (writes) and `selectors` (reads) for the pages and the API; `forms`, `views`;
- `metrics`: deliveries counted by outcome.

Kept light: the inference worker imports `queue` only.
"""
