"""The rule for names that are typed in prompts and also name files: triggers and export names."""

import re

# A name that is also a safe file name in every UI: letters and digits, with - . _ only inside.
FILE_STEM = re.compile(r"[^\W_](?:[\w\-.]*[^\W_])?")
