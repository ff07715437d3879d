"""Storage: tables, migrations, windowed reads and bulk writes; every other room asks it for data."""
