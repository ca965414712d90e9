locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  name       = "${var.name_prefix}-landing-push"

  # Every upload to landing, whatever the tenant's tier: the router sorts them out.
  event_pattern = {
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail        = { bucket = { name = [var.landing_bucket_name] } }
  }

  # POST /api/v2/assets/events on the `landing` asset. The extra carries the EventBridge event the
  # way a watcher's event carries an SQS message (payload.message_batch[].Body), so the router reads
  # both with airlock.events.parse_trigger_extras. tests/e2e posts this very template.
  input_template = templatefile("${path.module}/input_template.json.tftpl", { landing_asset_id = var.landing_asset_id })
}
