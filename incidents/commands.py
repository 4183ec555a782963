"""Command line of the incidents domain: `import legs FILE --profile NAME`."""
from flask.cli import AppGroup

import_cli = AppGroup("import", help="Import orders and legs from files.")
