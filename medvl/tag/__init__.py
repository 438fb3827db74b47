"""Tagging: modality (+ MRI sequence), anatomy and findings for every pair, with confidence and evidence.

vocab.py   versioned YAML vocabularies (medvl/tag/vocab/*.yaml)
text.py    the text tagger (panel words + figure caption, negation and comparison cues)
image.py   a small image classifier (numpy features + softmax regression; weights in medvl/tag/models/)
combine.py text + image evidence -> one row (records.TagRow)
stage.py   the pipeline stage `tag` (between align and export) -> RUN_DIR/tags.jsonl
keep.py    the export filter (--keep modality=mri,ct anatomy=brain)
"""
