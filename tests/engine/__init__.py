"""The real world's rules that mocks cannot see: the Pulumi CLI's and pulumi-kubernetes' own, each with its source."""
