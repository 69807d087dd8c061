"""Fine-tuning from the console: staff start a run on the worker hosts; its result is a registered candidate.

One module per concept:
- `models`: a run (base, data, parameters, status, the candidate it made);
- `data`: the training rows, from an uploaded CSV and/or the people's labels, checked before anything runs;
- `services`: start, follow and cancel a run (staff only, audited);
- `views`: the Models page's fine-tune form, each run's live progress, and its cancel.

The training itself is `classifier.finetune.finetune_run`, an RQ job on the `training` queue.
"""
