"""ms-swift reward plugin: `swift rlhf ... --external_plugins adqa_swift_plugin.py --reward_funcs adqa_correctness ...`.

`export --format swift` copies this file into the export folder as `adqa_swift_plugin.py`. ms-swift
imports the file given to `--external_plugins` by path before it resolves `--reward_funcs`; importing it
registers adqa-data's rewards (`adqa_data.integrations.swift`) in ms-swift's `orms`. It needs ms-swift
and adqa-data installed in the same environment; nothing else imports it.
"""

from swift.rewards import orms

from adqa_data.integrations.swift import register

register(orms)
