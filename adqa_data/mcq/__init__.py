"""The multiple-choice science shared by every stage: the answer parser, prompt styles, group advantages
and the text of a completion."""
