"""`python -m keras_inits ...`: the same as the `keras-inits` console script."""

import sys

from keras_inits.cli import main

sys.exit(main())
