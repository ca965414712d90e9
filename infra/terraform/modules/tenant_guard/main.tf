# The tenant keys that exist in this environment, read from AWS (the Resource Groups Tagging API, by the
# tags every tenant key carries: airlock:env from the provider's default tags, airlock:tenant from the
# tenant module). A key whose tenant the registry no longer names means someone removed a tenant file
# without offboarding it: the env turns that into a failed plan, before anything is destroyed.
# A key pending deletion (after `airlock tenant erase`) still counts until AWS deletes it, so the
# offboarded file stays until then.
data "aws_resourcegroupstaggingapi_resources" "tenant_keys" {
  resource_type_filters = ["kms:key"]

  tag_filter {
    key    = "airlock:env"
    values = [var.env_name]
  }

  tag_filter {
    key = "airlock:tenant"
  }
}

locals {
  live = toset(flatten([
    for r in data.aws_resourcegroupstaggingapi_resources.tenant_keys.resource_tag_mapping_list : [
      for k, v in r.tags : v if k == "airlock:tenant"
    ]
  ]))
  removed = sort(tolist(setsubtract(local.live, toset(var.known_tenant_ids))))
}
