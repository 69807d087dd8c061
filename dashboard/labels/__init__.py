"""People's labels on results, and the live evaluation of each model they make possible.

One module per concept:
- `models`: one row per labelled item, what the evaluation counts (kept as labels are written);
- `vocabulary`: a label given as a number or a name, resolved against the model's labels;
- `services`: set, change and undo a label (one item or a selection), audited and rate-limited;
- `evaluation`: accuracy, macro-F1, the confusion matrix and the reliability diagram, per model;
- `export`: the labelled items as a training CSV;
- `views`: the label form, review mode, the Models page and the export.

The results table (DynamoDB) holds each item's label; the rows here mirror it so that a page view
reads the labelled items, never the table.
"""
