provider "aws" {
  region = var.region
}

# Credentials from the environment: ASTRO_API_TOKEN + organization id, DD_API_KEY / DD_APP_KEY.
provider "astro" {}

provider "datadog" {
  api_url = "https://api.${var.datadog_site}/"
}
