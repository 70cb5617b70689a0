"""Loading tasks: local BEIR / FollowIR directories, the Hugging Face hub, the embedded sample."""
