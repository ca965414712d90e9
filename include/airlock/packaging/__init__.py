"""Build and ship the kit to hosted Airflows: the MWAA S3 layout and its upload.

Astro needs no packaging code (the Dockerfile is the package); MWAA needs a folder shaped like
its source bucket, because MWAA syncs only dags/, requirements.txt, plugins.zip and startup.sh.
"""
