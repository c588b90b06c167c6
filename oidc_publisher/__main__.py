from oidc_publisher.cli import main

main()
