"""Run metrics: counts, shares and durations of each run, per customer and dataset (``base``),
published to CloudWatch on AWS (``cloudwatch``) and kept in the run report everywhere."""
