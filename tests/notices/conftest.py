from tests.binding.conftest import card_holder, chip_directory, person  # noqa: F401  (fixtures)
