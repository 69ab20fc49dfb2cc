"""Writers: images, Parquet tables, COCO annotations and the manifest of a dataset."""
