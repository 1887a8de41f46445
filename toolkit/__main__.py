from edgebb.cli import main

main()
